//! Files that appear complete or not at all: written to a temporary name in the same folder,
//! synced and renamed on `commit`; removed when dropped uncommitted, and by
//! [`abandon_pending`] when the process is interrupted.
//!
//! What the path already is decides the details: a symbolic link is followed and its target
//! replaced (the link stays); an existing file's permissions are kept; a FIFO, a device or a
//! socket (`/dev/null`, a named pipe) is written straight into, since it cannot be replaced,
//! and so is a path under `/dev` or `/proc` (`/dev/stdout`: whatever stdout is, a log file
//! opened with `>>` included, is appended to, never replaced).
//! Every error names the file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Temporary files not yet committed, so an interrupt handler can remove them.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary file not yet committed; called by interrupt handlers before exit.
/// Returns holding the registry lock, so no commit can rename a file afterwards.
pub fn abandon_pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    for p in pending.drain(..) {
        let _ = fs::remove_file(p);
    }
    pending
}

fn forget(path: &Path) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    pending.retain(|p| p != path);
}

pub struct AtomicFile {
    /// The file as named (for messages).
    path: PathBuf,
    /// Where the data goes once committed: the link's target for a symbolic link.
    target: PathBuf,
    /// The temporary file; `None` when writing straight into a FIFO or device.
    tmp: Option<PathBuf>,
    file: Option<File>,
}

/// An error about `path`, with the path in its message.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

impl AtomicFile {
    /// Creates `path`'s temporary sibling; `path` itself is untouched until `commit`.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        Self::create_with_mode(path, None)
    }

    /// Like `create`, with Unix permission bits (for example 0o600 for state files).
    pub fn create_with_mode(path: &Path, mode: Option<u32>) -> io::Result<AtomicFile> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        // A symbolic link's target is what gets replaced.
        let target = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
                Ok(t) => t,
                // A dangling link: its target is created.
                Err(_) => fs::read_link(path)
                    .map(|t| path.parent().unwrap_or(Path::new("")).join(t))
                    .map_err(|e| named(path, e))?,
            },
            _ => path.to_owned(),
        };
        let existing = fs::metadata(&target).ok();
        // `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N` name a descriptor this process holds
        // (the file behind it may be a log opened with `>>`): written into, at its end.
        let descriptor = path.starts_with("/dev") || path.starts_with("/proc");
        if descriptor
            || existing
                .as_ref()
                .is_some_and(|m| !m.is_file() && !m.is_dir())
        {
            // A FIFO, a device or a socket cannot be replaced: it is written into.
            let file = OpenOptions::new()
                .append(true)
                .open(if descriptor { path } else { &target })
                .map_err(|e| named(path, e))?;
            return Ok(AtomicFile {
                path: path.to_owned(),
                target,
                tmp: None,
                file: Some(file),
            });
        }
        let name = target.file_name().ok_or_else(|| {
            named(
                path,
                io::Error::new(io::ErrorKind::InvalidInput, "output path names no file"),
            )
        })?;
        let tmp_name = format!(
            ".{}.ely-tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = target.with_file_name(tmp_name);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        let file = opts.open(&tmp).map_err(|e| named(path, e))?;
        pending.push(tmp.clone());
        drop(pending);
        // The file replaced keeps its permissions (unless the caller asked for others).
        if let (None, Some(m)) = (mode, existing.as_ref()) {
            if let Err(e) = file.set_permissions(m.permissions()) {
                let _ = fs::remove_file(&tmp);
                forget(&tmp);
                return Err(named(path, e));
            }
        }
        Ok(AtomicFile {
            path: path.to_owned(),
            target,
            tmp: Some(tmp),
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the data, renames it into place and syncs the folder (for a FIFO or device:
    /// flushes).
    pub fn commit(mut self) -> io::Result<()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let Some(tmp) = self.tmp.clone() else {
            return file.flush().map_err(|e| named(&self.path, e));
        };
        file.sync_all().map_err(|e| named(&self.path, e))?;
        drop(file);
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.contains(&tmp) {
            // An interrupt already removed it.
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        fs::rename(&tmp, &self.target).map_err(|e| named(&self.path, e))?;
        pending.retain(|p| p != &tmp);
        drop(pending);
        if let Some(dir) = self.target.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl AtomicFile {
    /// Runs `f` on the open file, naming the file in its error.
    fn with_file<T>(&mut self, f: impl FnOnce(&mut File) -> io::Result<T>) -> io::Result<T> {
        let AtomicFile { path, file, .. } = self;
        match file {
            Some(file) => f(file).map_err(|e| named(path, e)),
            None => Err(named(
                path,
                io::Error::other("written after it was committed"),
            )),
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with_file(|f| f.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.with_file(|f| f.write_all(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.with_file(|f| f.flush())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            if let Some(tmp) = &self.tmp {
                let _ = fs::remove_file(tmp);
                forget(tmp);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_drop_cleans_up() {
        let dir = std::env::temp_dir().join(format!("ely-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.jsonl");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"x\n").unwrap();
        assert!(!target.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"x\n");

        let mut g = AtomicFile::create(&target).unwrap();
        g.write_all(b"partial").unwrap();
        drop(g);
        assert_eq!(fs::read(&target).unwrap(), b"x\n");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}
