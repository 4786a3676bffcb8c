//! The dead-letter file: one JSON record per rejected line, with its number, the reason and
//! the line itself, so nothing read is ever silently dropped. ely-restore reads such a file
//! back as it is.
//!
//! Two ways to keep it, one record format:
//! - [`DeadLetter::new`]: written to a temporary name and renamed into place by
//!   [`DeadLetter::finish`] (a one-shot run such as ely-convert);
//! - [`DeadLetter::resumable`]: written in place and synced by [`DeadLetter::sync`] before
//!   every checkpoint that vouches for it; a resumed run cuts it back to the length its
//!   checkpoint recorded, dropping a record a kill cut short.
//!
//! Either way the file is created only when the first line is rejected, mode 0600.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use crate::atomic::AtomicFile;
use crate::format::base64;
use crate::records::{Record, Rejected};

enum Target {
    Atomic(BufWriter<AtomicFile>),
    InPlace(BufWriter<File>),
}

pub struct DeadLetter {
    input: String,
    path: PathBuf,
    file: Option<Target>,
    /// `None`: atomic. `Some(n)`: in place, keeping the first `n` bytes of what is there.
    keep: Option<u64>,
    /// A resumed run's file: what follows the kept bytes is cut off even when this run
    /// rejects nothing.
    resumed: bool,
    /// Bytes in the file, counting what is still buffered.
    bytes: u64,
    records: u64,
}

impl DeadLetter {
    /// Records rejected lines of `input` into `path`; the file appears on `finish`, and only
    /// when something was rejected.
    pub fn new(path: &Path, input: &str) -> DeadLetter {
        DeadLetter {
            input: input.to_owned(),
            path: path.to_owned(),
            file: None,
            keep: None,
            resumed: false,
            bytes: 0,
            records: 0,
        }
    }

    /// Records rejected lines of `input` into `path` in place. A fresh run (`resume` `None`)
    /// starts the file over; a resumed one keeps the `resume` bytes its checkpoint vouches
    /// for and appends after them.
    pub fn resumable(path: &Path, input: &str, resume: Option<u64>) -> DeadLetter {
        DeadLetter {
            keep: Some(resume.unwrap_or(0)),
            resumed: resume.is_some(),
            bytes: resume.unwrap_or(0),
            ..DeadLetter::new(path, input)
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records written by this run.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn open(&mut self) -> io::Result<&mut dyn Write> {
        if self.file.is_none() {
            let named = |e: io::Error| {
                io::Error::new(
                    e.kind(),
                    format!("dead-letter file {}: {e}", self.path.display()),
                )
            };
            let target = match self.keep {
                None => Target::Atomic(BufWriter::new(
                    AtomicFile::create(&self.path)
                        .map_err(|e| io::Error::new(e.kind(), format!("dead-letter file {e}")))?,
                )),
                Some(keep) => {
                    let mut o = std::fs::OpenOptions::new();
                    o.create(true).write(true);
                    #[cfg(unix)]
                    {
                        use std::os::unix::fs::OpenOptionsExt;
                        o.mode(0o600);
                    }
                    let mut f = o.open(&self.path).map_err(named)?;
                    f.set_len(keep).map_err(named)?;
                    f.seek(io::SeekFrom::Start(keep)).map_err(named)?;
                    self.bytes = keep;
                    Target::InPlace(BufWriter::new(f))
                }
            };
            self.file = Some(target);
        }
        Ok(match self.file.as_mut() {
            Some(Target::Atomic(f)) => f,
            Some(Target::InPlace(f)) => f,
            None => unreachable!("opened above"),
        })
    }

    /// Writes one record. `too_long` is the full length of a line of which `line` is the start.
    pub fn reject(
        &mut self,
        number: u64,
        reason: &str,
        line: &[u8],
        too_long: Option<u64>,
    ) -> io::Result<()> {
        let (raw, raw_base64) = match std::str::from_utf8(line) {
            Ok(s) => (Some(s.to_owned()), None),
            Err(_) => (None, Some(base64(line))),
        };
        let record = Rejected {
            input: self.input.clone(),
            line: number,
            reason: reason.to_owned(),
            raw,
            raw_base64,
            bytes: too_long,
        };
        let mut text = record.to_line();
        text.push(b'\n');
        self.open()?.write_all(&text)?;
        self.bytes += text.len() as u64;
        self.records += 1;
        Ok(())
    }

    /// Flushes and, for a file written in place, syncs it; returns its length (what a
    /// checkpoint may vouch for).
    pub fn sync(&mut self) -> io::Result<u64> {
        if self.file.is_none() && self.resumed && self.path.exists() {
            // Records a killed run wrote after its checkpoint go, also when this run has
            // nothing to add.
            self.open()?;
        }
        match self.file.as_mut() {
            Some(Target::InPlace(f)) => {
                f.flush()?;
                f.get_ref().sync_all()?;
            }
            Some(Target::Atomic(f)) => f.flush()?,
            None => {}
        }
        Ok(self.bytes)
    }

    /// Syncs the file and, when it was written to a temporary name, renames it into place.
    pub fn finish(self) -> io::Result<()> {
        match self.file {
            Some(Target::Atomic(f)) => f
                .into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .commit(),
            Some(Target::InPlace(mut f)) => {
                f.flush()?;
                f.get_ref().sync_all()
            }
            None => Ok(()),
        }
    }
}
