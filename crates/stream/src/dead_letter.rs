//! The dead-letter file: one JSON record per rejected line, with its number, the reason and
//! the line itself, so nothing read is ever silently dropped.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::atomic::AtomicFile;
use crate::format::{base64, Rejected};

pub struct DeadLetter {
    input: String,
    file: Option<BufWriter<AtomicFile>>,
    path: PathBuf,
    records: u64,
}

impl DeadLetter {
    /// Records rejected lines of `input` into `path`; the file appears on `finish`, and only
    /// when something was rejected.
    pub fn new(path: &Path, input: &str) -> DeadLetter {
        DeadLetter {
            input: input.to_owned(),
            file: None,
            path: path.to_owned(),
            records: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Writes one record. `too_long` is the full length of a line of which `line` is the start.
    pub fn reject(
        &mut self,
        number: u64,
        reason: &str,
        line: &[u8],
        too_long: Option<u64>,
    ) -> io::Result<()> {
        if self.file.is_none() {
            let f = AtomicFile::create(&self.path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("dead-letter file {}: {e}", self.path.display()),
                )
            })?;
            self.file = Some(BufWriter::new(f));
        }
        let (raw, raw_base64) = match std::str::from_utf8(line) {
            Ok(s) => (Some(s), None),
            Err(_) => (None, Some(base64(line))),
        };
        let record = Rejected {
            ely: "rejected",
            input: &self.input,
            line: number,
            reason,
            raw,
            raw_base64,
            bytes: too_long,
        };
        let file = self.file.as_mut().expect("opened above");
        serde_json::to_writer(&mut *file, &record)?;
        file.write_all(b"\n")?;
        self.records += 1;
        Ok(())
    }

    /// Syncs and renames the file into place, when there is one.
    pub fn finish(self) -> io::Result<()> {
        if let Some(f) = self.file {
            f.into_inner()
                .map_err(io::IntoInnerError::into_error)?
                .commit()?;
        }
        Ok(())
    }
}
