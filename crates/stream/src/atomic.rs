//! Files that appear complete or not at all: written to a temporary name in the same folder,
//! synced and renamed on `commit`; removed when dropped uncommitted, and by
//! [`abandon_pending`] when the process is interrupted.

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
    path: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates `path`'s temporary sibling; `path` itself is untouched until `commit`.
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        Self::create_with_mode(path, None)
    }

    /// Like `create`, with Unix permission bits (for example 0o600 for state files).
    pub fn create_with_mode(path: &Path, mode: Option<u32>) -> io::Result<AtomicFile> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "output path names no file")
        })?;
        let tmp_name = format!(
            ".{}.ely-tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let tmp = path.with_file_name(tmp_name);
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
        let file = opts.open(&tmp)?;
        pending.push(tmp.clone());
        Ok(AtomicFile {
            path: path.to_owned(),
            tmp,
            file: Some(file),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the data, renames it into place and syncs the folder.
    pub fn commit(mut self) -> io::Result<()> {
        let file = self.file.take().expect("commit runs once");
        file.sync_all()?;
        drop(file);
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.contains(&self.tmp) {
            // An interrupt already removed it.
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        fs::rename(&self.tmp, &self.path)?;
        pending.retain(|p| p != &self.tmp);
        drop(pending);
        if let Some(dir) = self.path.parent() {
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

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.as_mut().expect("not committed").write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
            forget(&self.tmp);
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
